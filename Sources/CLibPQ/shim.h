#include <libpq-fe.h>

/// PG_DIAG_* are character-literal macros ('C', 'M'); Swift does not import them.
static inline int ketch_pg_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }
static inline int ketch_pg_diag_message_primary(void) { return PG_DIAG_MESSAGE_PRIMARY; }

#include <spawn.h>

/// glibc (2.29+/2.34+) GNU extensions that Swift's Glibc module does not import (they need
/// _GNU_SOURCE). KetchPostgres spawns Postgres programs with them: a child must not keep our
/// file descriptors (pg_ctl's postmaster would inherit them for its whole life) and must start
/// in a directory the unprivileged user can enter.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);

static inline int ketch_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
static inline int ketch_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
