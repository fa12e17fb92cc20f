/* SwiftPM needs a source file in a C target; the ABI is header-only. */
