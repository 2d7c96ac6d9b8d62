"""The advisor: measured warnings about pool fit, deadlocks, memory and crashes, each with a fix."""
