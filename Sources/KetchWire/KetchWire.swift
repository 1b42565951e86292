// KetchWire: filled in by its issue.
import KetchShared
