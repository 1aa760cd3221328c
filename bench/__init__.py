"""Benchmarks behind ``make bench``; each module has ``main()`` printing a markdown table."""
