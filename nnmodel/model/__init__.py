"""Models: the protocol every model family offers (`base`), the families side by side, fitting with
SciPy's L-BFGS-B, presets (recipes), model files and the original project's Theta files."""
