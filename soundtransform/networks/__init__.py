"""Network factories and the classes they build; no training code lives here."""
