//! capstan-apply (placeholder, filled by its issue).
