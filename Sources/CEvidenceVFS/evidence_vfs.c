#include "nt_evidence_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* A file of this VFS: the real one follows it in the same allocation. */
struct ev_file {
	sqlite3_file base;
	sqlite3_file *real;
	/* The WAL index, private: regions of szRegion bytes. */
	void **regions;
	int nregions;
};

static sqlite3_vfs *root;

#define REAL(f) (((struct ev_file *)(f))->real)

static void free_regions(struct ev_file *p)
{
	for (int i = 0; i < p->nregions; i++)
		free(p->regions[i]);
	free(p->regions);
	p->regions = 0;
	p->nregions = 0;
}

static int ev_close(sqlite3_file *f)
{
	struct ev_file *p = (struct ev_file *)f;
	int rc = p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;

	free_regions(p);
	return rc;
}

static int ev_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

/* Never written: the evidence is read-only whatever SQLite would like. */
static int ev_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	(void)f; (void)buf; (void)n; (void)off;
	return SQLITE_READONLY;
}

static int ev_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	(void)f; (void)size;
	return SQLITE_READONLY;
}

static int ev_sync(sqlite3_file *f, int flags)
{
	(void)f; (void)flags;
	return SQLITE_OK;
}

static int ev_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int ev_lock(sqlite3_file *f, int level)
{
	/* A shared lock at most: anything stronger is for writing (or a checkpoint). */
	if (level > SQLITE_LOCK_SHARED)
		return SQLITE_BUSY;
	return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int ev_unlock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int ev_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int ev_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int ev_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int ev_device_characteristics(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int ev_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
	struct ev_file *p = (struct ev_file *)f;

	(void)extend; /* The index is rebuilt from the WAL here: every region may be made. */
	if (region >= p->nregions) {
		void **r = realloc(p->regions, sizeof(void *) * (size_t)(region + 1));
		if (!r)
			return SQLITE_NOMEM;
		for (int i = p->nregions; i <= region; i++)
			r[i] = 0;
		p->regions = r;
		p->nregions = region + 1;
	}
	if (!p->regions[region]) {
		p->regions[region] = calloc(1, (size_t)size);
		if (!p->regions[region])
			return SQLITE_NOMEM;
	}
	*out = p->regions[region];
	return SQLITE_OK;
}

/* One connection owns the index: no other process or connection shares it. */
static int ev_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	(void)f; (void)offset; (void)n; (void)flags;
	return SQLITE_OK;
}

static void ev_shm_barrier(sqlite3_file *f)
{
	(void)f;
	__sync_synchronize();
}

static int ev_shm_unmap(sqlite3_file *f, int delete_flag)
{
	(void)delete_flag;
	free_regions((struct ev_file *)f);
	return SQLITE_OK;
}

static int ev_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	(void)f; (void)off; (void)n;
	*pp = 0; /* no memory mapping: reads go through xRead */
	return SQLITE_OK;
}

static int ev_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f; (void)off; (void)p;
	return SQLITE_OK;
}

static int fw_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int fw_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int fw_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int fw_lock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int fw_close(sqlite3_file *f)
{
	return REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
}

/* The analyzer's own temporary files (sorts, statement journals): everything as the system does it. */
static const sqlite3_io_methods fw_methods = {
	1,
	fw_close, ev_read, fw_write, fw_truncate, fw_sync, ev_size,
	fw_lock, ev_unlock, ev_check_reserved, ev_file_control, ev_sector_size, ev_device_characteristics,
	0, 0, 0, 0, 0, 0,
};

static const sqlite3_io_methods ev_methods = {
	3,
	ev_close, ev_read, ev_write, ev_truncate, ev_sync, ev_size,
	ev_lock, ev_unlock, ev_check_reserved, ev_file_control, ev_sector_size, ev_device_characteristics,
	ev_shm_map, ev_shm_lock, ev_shm_barrier, ev_shm_unmap,
	ev_fetch, ev_unfetch,
};

static int ev_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
	struct ev_file *p = (struct ev_file *)f;
	int rc;

	(void)vfs;
	memset(p, 0, sizeof(*p));
	p->real = (sqlite3_file *)(p + 1);
	/* Temporary files (sorting, a statement journal) are the analyzer's own: let them be. */
	if (!(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL))) {
		rc = root->xOpen(root, name, p->real, flags, out_flags);
		if (rc == SQLITE_OK)
			p->base.pMethods = &fw_methods;
		return rc;
	}
	flags &= ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_DELETEONCLOSE | SQLITE_OPEN_EXCLUSIVE);
	flags |= SQLITE_OPEN_READONLY;
	rc = root->xOpen(root, name, p->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	p->base.pMethods = &ev_methods;
	return SQLITE_OK;
}

static int ev_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs; (void)name; (void)sync_dir;
	return SQLITE_IOERR_DELETE;
}

static int ev_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return root->xAccess(root, name, flags, out);
}

static int ev_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return root->xFullPathname(root, name, n, out);
}

static void *ev_dlopen(sqlite3_vfs *vfs, const char *name) { (void)vfs; return root->xDlOpen(root, name); }
static void ev_dlerror(sqlite3_vfs *vfs, int n, char *msg) { (void)vfs; root->xDlError(root, n, msg); }
static void (*ev_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void) { (void)vfs; return root->xDlSym(root, h, sym); }
static void ev_dlclose(sqlite3_vfs *vfs, void *h) { (void)vfs; root->xDlClose(root, h); }
static int ev_randomness(sqlite3_vfs *vfs, int n, char *out) { (void)vfs; return root->xRandomness(root, n, out); }
static int ev_sleep(sqlite3_vfs *vfs, int us) { (void)vfs; return root->xSleep(root, us); }
static int ev_current_time(sqlite3_vfs *vfs, double *t) { (void)vfs; return root->xCurrentTime(root, t); }
static int ev_last_error(sqlite3_vfs *vfs, int n, char *msg) { (void)vfs; return root->xGetLastError(root, n, msg); }
static int ev_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t) { (void)vfs; return root->xCurrentTimeInt64(root, t); }

static sqlite3_vfs ev_vfs;
static int registered = SQLITE_ERROR;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void ev_register_once(void)
{
	root = sqlite3_vfs_find(0);
	if (!root || root->iVersion < 2)
		return;
	memset(&ev_vfs, 0, sizeof(ev_vfs));
	ev_vfs.iVersion = 2;
	ev_vfs.szOsFile = (int)sizeof(struct ev_file) + root->szOsFile;
	ev_vfs.mxPathname = root->mxPathname;
	ev_vfs.zName = NT_EVIDENCE_VFS;
	ev_vfs.xOpen = ev_open;
	ev_vfs.xDelete = ev_delete;
	ev_vfs.xAccess = ev_access;
	ev_vfs.xFullPathname = ev_full_pathname;
	ev_vfs.xDlOpen = ev_dlopen;
	ev_vfs.xDlError = ev_dlerror;
	ev_vfs.xDlSym = ev_dlsym;
	ev_vfs.xDlClose = ev_dlclose;
	ev_vfs.xRandomness = ev_randomness;
	ev_vfs.xSleep = ev_sleep;
	ev_vfs.xCurrentTime = ev_current_time;
	ev_vfs.xGetLastError = ev_last_error;
	ev_vfs.xCurrentTimeInt64 = ev_current_time64;
	registered = sqlite3_vfs_register(&ev_vfs, 0);
}

int nt_evidence_vfs_register(void)
{
	pthread_once(&once, ev_register_once);
	return registered;
}
