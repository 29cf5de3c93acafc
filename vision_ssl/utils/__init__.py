"""Small helpers shared by methods: distributed gathering, schedules, optimizers."""
