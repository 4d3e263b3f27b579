"""Business logic of the platform: writes go through these functions, never raw saves."""
