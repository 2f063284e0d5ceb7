"""Privacy: private view, consent records, a person's data export and its erasure."""
