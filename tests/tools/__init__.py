"""Tools the chart tests need, each built or fetched once and cached (see each module)."""
