"""Text-recognition models: CRNN (MiniVGG backbone, BiLSTM encoder, CTC head) and SVTR (SVTREncoder, CTC head)
on the shared recogniser."""
from .backbones import MiniVGG, OCRBasicBlock, RecMobileNetV3, ResNet31OCR
from .ctc_head import CTCHead, CTCLoss
from .encoders import BiLSTMEncoder, feature_map_to_sequence
from .recognizer import CRNN, EncoderDecoderRecognizer, TextRecogDataPreprocessor
from .svtr import SVTREncoder

__all__ = ['BiLSTMEncoder', 'CRNN', 'CTCHead', 'CTCLoss', 'EncoderDecoderRecognizer', 'MiniVGG', 'OCRBasicBlock',
           'RecMobileNetV3', 'ResNet31OCR', 'SVTREncoder', 'TextRecogDataPreprocessor', 'feature_map_to_sequence']
from .ce_loss import CEModuleLoss  # noqa: E402
from .nrtr_decoder import NRTRDecoder  # noqa: E402
from .nrtr import NRTR, NRTREncoder, NRTRModalityTransform  # noqa: E402

__all__ += ['CEModuleLoss', 'NRTR', 'NRTRDecoder', 'NRTREncoder', 'NRTRModalityTransform']
from .svtr_neck import EncoderWithSVTR, SVTRMixingBlock  # noqa: E402  (PP-OCRv4 neck)
from .direction_classifier import TextClsHead, TextDirectionClassifier  # noqa: E402  (PP-OCR cls)

__all__ += ['EncoderWithSVTR', 'SVTRMixingBlock', 'TextClsHead', 'TextDirectionClassifier']
from .multi_head import MultiHeadRecognizer  # noqa: E402  (PP-OCRv4 CTC + GTC training)

__all__ += ['MultiHeadRecognizer']
from .mmocr_decoders import CRNNDecoder, SVTRDecoder  # noqa: E402  (MMOCR 1.x CTC decoders)
from .recognizer import SVTR  # noqa: E402

__all__ += ['CRNNDecoder', 'SVTR', 'SVTRDecoder']
from .paddle_rnn import StackedBiLSTMEncoder  # noqa: E402  (PaddleOCR CRNN neck)

__all__ += ['StackedBiLSTMEncoder']
from .stn import STN, TPSTransform  # noqa: E402  (MMOCR's TPS rectifier, SVTR's preprocessor)

__all__ += ['STN', 'TPSTransform']
