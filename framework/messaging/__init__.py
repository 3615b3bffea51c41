"""Kafka messaging: the embedded broker and the event producer."""

from framework.messaging.embedded import EmbeddedBroker
from framework.messaging.producer import (
    Delivery,
    EventProducer,
    MessageRefused,
    MessagingError,
)

__all__ = ["Delivery", "EmbeddedBroker", "EventProducer", "MessageRefused", "MessagingError"]
