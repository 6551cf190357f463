"""Month-end revenue recognition: monthly summary, its blocking check, the QBO JournalEntry and schedule."""
