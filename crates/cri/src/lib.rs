//! Kubernetes CRI v1 services. Arrives with pod support.
