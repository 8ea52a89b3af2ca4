# A realistic INVITE as a door station sends it through a PBX (about 600 bytes with SDP).
SDP = (
    b"v=0\r\n"
    b"o=door 3041 3041 IN IP4 192.168.1.50\r\n"
    b"s=mpsip\r\n"
    b"c=IN IP4 192.168.1.50\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:201@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bK-524287-1---a4f1c2d3e5b6\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Front Door" <sip:door@pbx.example.com>;tag=8a3b9f01\r\n'
    b"To: <sip:201@pbx.example.com>\r\n"
    b"Call-ID: 5d2c4e9a-7b1f-4c3a-9e8d-2f6a1b0c3d4e@192.168.1.50\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:door@192.168.1.50:5060>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, MESSAGE\r\n"
    b"Supported: replaces\r\n"
    b"User-Agent: mpsip/0.1\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: %d\r\n"
    b"\r\n" % len(SDP)
) + SDP
