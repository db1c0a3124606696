"""Hash exchanges: fill banks from NCMEC, StopNCII, Tech Against Terrorism, ThreatExchange and files."""
