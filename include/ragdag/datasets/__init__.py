"""The dataset stage: instruct (SFT) and preference datasets from the embedded chunks, versioned in the object store."""
