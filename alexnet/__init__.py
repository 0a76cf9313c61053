"""AlexNet (Krizhevsky, Sutskever, Hinton, NIPS 2012): the network, its recipe and its fast GPU path."""
