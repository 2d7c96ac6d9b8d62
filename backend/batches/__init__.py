"""Batches: launching invoice and monitoring runs, tracking their children, keeping history."""
