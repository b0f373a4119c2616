//! capstan-integration (placeholder, filled by its issue).
