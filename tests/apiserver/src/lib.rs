//! capstan-apiserver (placeholder, filled by its issue).
