"""A clinical guideline assistant for HER2-expressing breast cancer after antibody-drug conjugates."""
