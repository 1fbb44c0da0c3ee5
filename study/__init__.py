"""xstudy: does English intermediate-task training still help zero-shot cross-lingual transfer at scale?"""
