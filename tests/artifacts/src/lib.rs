//! capstan-test-artifacts (placeholder, filled by its issue).
