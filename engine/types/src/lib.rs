//! capstan-types (placeholder, filled by its issue).
