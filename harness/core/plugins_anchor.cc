// Keeps the plugins object library non-empty before any method or task exists.
