// KetchCore: filled in by its issue.
import KetchShared
