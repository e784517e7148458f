"""Pictures, the HTML report and the lecture's worked examples."""
