// KetchSimulation: filled in by its issue.
import KetchShared
