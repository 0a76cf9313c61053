"""Hand-crafted image features for the 2005-2012 baselines.

``hog`` (whole-image HOG), ``dense_sift`` (the vl_phow grid, OpenCV and
kornia backends), ``fisher`` (batched improved Fisher vectors, checked against
scikit-image), ``bovw`` (word histograms), ``spatial_pyramid`` (cells),
``sift_encoders`` (image -> vector encoders), ``codebook`` (PCA / GMM /
k-means on training descriptors), ``cache`` (float16 memmap feature cache),
``extraction`` (in-process / joblib / Dask execution) and ``pipeline``
(the encoder -> cache -> SVM baseline shape).
"""
