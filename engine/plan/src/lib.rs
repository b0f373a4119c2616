//! capstan-plan (placeholder, filled by its issue).
