//! capstan-host (placeholder, filled by its issue).
