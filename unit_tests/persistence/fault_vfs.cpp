#include "fault_vfs.hpp"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include <mutex>
#include <stdexcept>

namespace actorstate::persistence::testing {

namespace {

fault_vfs_controls controls;
sqlite3_vfs* base_vfs = nullptr;
sqlite3_vfs wrapper_vfs;

// Our file object; the base VFS's file object follows it in the same allocation.
struct fault_file {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_file* real_of(sqlite3_file* f) {
  return reinterpret_cast<fault_file*>(f)->real;
}

int x_close(sqlite3_file* f) {
  return real_of(f)->pMethods->xClose(real_of(f));
}

int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (int rc = controls.write_error.load(); rc != 0)
    return rc;
  return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

int x_sync(sqlite3_file* f, int flags) {
  ++controls.syncs;
  if (int delay = controls.sync_delay_ms.load(); delay > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds{delay});
  if (int rc = controls.sync_error.load(); rc != 0)
    return rc;
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

int x_lock(sqlite3_file* f, int level) {
  return real_of(f)->pMethods->xLock(real_of(f), level);
}

int x_unlock(sqlite3_file* f, int level) {
  return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

int x_sector_size(sqlite3_file* f) {
  return real_of(f)->pMethods->xSectorSize(real_of(f));
}

int x_device_characteristics(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}

int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

void x_shm_barrier(sqlite3_file* f) {
  real_of(f)->pMethods->xShmBarrier(real_of(f));
}

int x_shm_unmap(sqlite3_file* f, int delete_flag) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}

int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

const sqlite3_io_methods io_methods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* f = reinterpret_cast<fault_file*>(file);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set; mirror the base file.
  f->base.pMethods = f->real->pMethods != nullptr ? &io_methods : nullptr;
  return rc;
}

}  // namespace

fault_vfs_controls& fault_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    base_vfs = sqlite3_vfs_find(nullptr);
    if (base_vfs == nullptr || base_vfs->iVersion < 3)
      throw std::runtime_error("no suitable default SQLite VFS");
    // Everything but xOpen goes straight to the base VFS (pAppData included).
    wrapper_vfs = *base_vfs;
    wrapper_vfs.zName = fault_vfs_name;
    wrapper_vfs.szOsFile = static_cast<int>(sizeof(fault_file)) + base_vfs->szOsFile;
    wrapper_vfs.pNext = nullptr;
    wrapper_vfs.xOpen = x_open;
    if (sqlite3_vfs_register(&wrapper_vfs, 0) != SQLITE_OK)
      throw std::runtime_error("cannot register the fault VFS");
  });
  return controls;
}

}  // namespace actorstate::persistence::testing
