"""Edge agent: runs on every checkpoint (Raspberry Pi 5 + Hailo + camera)."""
