/* glibc's malloc tuning (mallopt), which Swift's Glibc module leaves out: the analyzer's heap
 * setup (Sources/nettrail/HugePages.swift). */
#include <malloc.h>
