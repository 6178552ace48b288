"""The yardstick: a plain float64 re-implementation of the original project's recipe.

Written the way the original was (bias columns appended with np.append, sigmoid output, logistic cost
with log(h), Theta matrices, uniform +-0.15 initialisation, scipy.optimize.minimize L-BFGS-B with
jac=True). Used only by the benchmarks, to measure our implementation against in the same run.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def initialise(a, b, seed):
    epsilon = 0.15
    rng = np.random.default_rng(seed)
    return rng.random((a, 1 + b)) * (2 * epsilon) - epsilon


def neural_network(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lamb):
    Theta1 = np.reshape(nn_params[:hidden_layer_size * (input_layer_size + 1)],
                        (hidden_layer_size, input_layer_size + 1))
    Theta2 = np.reshape(nn_params[hidden_layer_size * (input_layer_size + 1):],
                        (num_labels, hidden_layer_size + 1))
    m = X.shape[0]
    one_matrix = np.ones((m, 1))
    X = np.append(one_matrix, X, axis=1)
    y_vect = np.zeros((m, num_labels))
    y_vect[np.arange(m), y] = 1

    a1 = X
    z2 = np.dot(X, Theta1.transpose())
    a2 = sigmoid(z2)
    a2 = np.append(one_matrix, a2, axis=1)
    z3 = np.dot(a2, Theta2.transpose())
    a3 = sigmoid(z3)

    J = (-1 / m) * np.sum(y_vect * np.log(a3) + (1 - y_vect) * np.log(1 - a3)) + (lamb / (2 * m)) * (
        np.sum(np.square(Theta1[:, 1:])) + np.sum(np.square(Theta2[:, 1:])))

    Delta3 = a3 - y_vect
    Delta2 = np.dot(Delta3, Theta2) * a2 * (1 - a2)
    Delta2 = Delta2[:, 1:]
    Theta1[:, 0] = 0
    Theta1_grad = (1 / m) * np.dot(Delta2.transpose(), a1) + (lamb / m) * Theta1
    Theta2[:, 0] = 0
    Theta2_grad = (1 / m) * np.dot(Delta3.transpose(), a2) + (lamb / m) * Theta2
    grad = np.concatenate((Theta1_grad.flatten(), Theta2_grad.flatten()))
    return J, grad


def train(X, y, maxiter=70, lamb=0.1, hidden=100, seed=0):
    """Returns (Theta1 (hidden, 785), Theta2 (10, hidden + 1))."""
    X = np.asarray(X, dtype=np.float64)
    initial = np.concatenate((initialise(hidden, 784, seed).flatten(), initialise(10, hidden, seed + 1).flatten()))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = minimize(neural_network, initial, args=(784, hidden, 10, X, y, lamb),
                          options={"maxiter": maxiter}, method="L-BFGS-B", jac=True)
    params = result.x
    Theta1 = np.reshape(params[:hidden * 785], (hidden, 785))
    Theta2 = np.reshape(params[hidden * 785:], (10, hidden + 1))
    return Theta1, Theta2


def predict(Theta1, Theta2, X):
    m = X.shape[0]
    one_matrix = np.ones((m, 1))
    X = np.append(one_matrix, X, axis=1)
    z2 = np.dot(X, Theta1.transpose())
    a2 = sigmoid(z2)
    one_matrix = np.ones((m, 1))
    a2 = np.append(one_matrix, a2, axis=1)
    z3 = np.dot(a2, Theta2.transpose())
    a3 = sigmoid(z3)
    return np.argmax(a3, axis=1)
