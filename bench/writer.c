/* The bench writer: inserts increasing ids into table w through one libpq connection string
 * (the multi-host string `ketchctl conninfo` prints), reconnecting at once whenever the
 * connection fails, and appends "id start end host" (CLOCK_REALTIME seconds) to OUT for every insert
 * that is acknowledged, with the host that acknowledged it. A commit that returns with Postgres's WARNING that its wait for the
 * synchronous standby was cancelled is *not* acknowledged by the data quorum and is not recorded.
 * One persistent connection instead of one psql per insert keeps the measured gaps close to what
 * an application sees (psql's start-up alone costs tens of milliseconds here).
 *
 * Usage: writer CONNINFO OUT STOP-FILE [FIRST-ID]   (stops when STOP-FILE exists)
 * The password comes from PGPASSWORD, never the command line. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int warned;

static void on_notice(void *arg, const PGresult *res) {
    (void)arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && strcmp(severity, "WARNING") == 0) warned = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "writer: usage: writer CONNINFO OUT STOP-FILE [FIRST-ID]\n");
        return 2;
    }
    const char *conninfo = argv[1], *stop = argv[3];
    long long id = argc == 5 ? atoll(argv[4]) : 1;
    FILE *out = fopen(argv[2], "a");
    if (!out) { perror(argv[2]); return 2; }
    PGconn *conn = NULL;
    char sql[96];
    while (access(stop, F_OK) != 0) {
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            if (conn) PQfinish(conn);
            conn = PQconnectdb(conninfo);
            if (PQstatus(conn) != CONNECTION_OK) {
                PQfinish(conn);
                conn = NULL;
                usleep(10000);
                continue;
            }
            PQsetNoticeReceiver(conn, on_notice, NULL);
        }
        /* The server that acknowledged, as Postgres sees its own address: through a proxy
         * PQhost() names the proxy. */
        snprintf(sql, sizeof sql, "INSERT INTO w VALUES (%lld) RETURNING host(inet_server_addr())", id);
        warned = 0;
        double t0 = now_s();
        PGresult *res = PQexec(conn, sql);
        double t1 = now_s();
        int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !warned;
        if (ok) {
            fprintf(out, "%lld %.6f %.6f %s\n", id, t0, t1, PQgetisnull(res, 0, 0) ? PQhost(conn) : PQgetvalue(res, 0, 0));
            fflush(out);
        }
        PQclear(res);
        /* A failed insert may still have committed (the connection broke after the commit):
         * never reuse its id, so the loss check stays exact. */
        id++;
        if (!ok) {
            /* Whatever went wrong (a fenced primary turned read-only, a broken connection), the
             * server may no longer be the primary: find it again through the host list. */
            PQfinish(conn);
            conn = NULL;
        }
    }
    if (conn) PQfinish(conn);
    fclose(out);
    return 0;
}
