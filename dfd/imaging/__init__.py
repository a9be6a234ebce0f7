"""The one gate every image from outside passes through, for the device runtime, the web
page and the TFDS builder alike: numpy, Pillow and the standard library only, so a device
without TensorFlow and a build machine judge a file the same way."""
