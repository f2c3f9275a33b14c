"""PLACEHOLDER - embedding part only (full bench written below)."""
