// KetchPostgres: filled in by its issue.
import KetchShared
