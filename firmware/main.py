# The door station (docs/config.md, boards/): boot, config, network, SIP, the loop.
# It runs from source on the board, so it stays this small: the work is in the compiled
# intercom/station.py, and compiling it here would spend the heap on the compiler.
import intercom.station

intercom.station.main()
