//! capstan-health (placeholder, filled by its issue).
