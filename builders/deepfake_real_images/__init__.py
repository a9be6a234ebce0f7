"""TFDS builder for Kaggle's deepfake-and-real-images; importing it registers the dataset."""

from dfd.builders.deepfake_real_images.deepfake_real_images_dataset_builder import Builder

__all__ = ["Builder"]
