#ifndef NT_EVIDENCE_VFS_H
#define NT_EVIDENCE_VFS_H

/* The VFS the analyzer reads evidence through ("nettrail-evidence"): the
 * system's own, except that nothing is ever opened for writing, created or
 * deleted, and a WAL's index (normally the -shm file beside the database) lives
 * in this process's memory. So a capture a killed recorder left as FILE and
 * FILE-wal reads whole from read-only media or as a user who may not write
 * beside it, and no file next to the evidence is created or touched.
 * Registers once; returns an SQLite result code. */
int nt_evidence_vfs_register(void);

#define NT_EVIDENCE_VFS "nettrail-evidence"

#endif
