"""The service's SQL: one module of small functions per domain, each taking the store."""
