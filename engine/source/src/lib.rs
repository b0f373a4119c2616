//! capstan-source (placeholder, filled by its issue).
