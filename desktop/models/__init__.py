"""Qt item models fed by the controller's signals; they never call the backend."""
