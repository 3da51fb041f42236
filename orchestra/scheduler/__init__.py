"""The scheduler: plans a sweep into its directory, places runs, starts and watches them."""
