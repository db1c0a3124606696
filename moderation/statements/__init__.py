"""Statements of reasons (DSA Art. 17), their submission to the Transparency Database and the
transparency report."""
